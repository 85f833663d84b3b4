package io.fluxmq.itest;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * What every scenario shares: argument handling, a watchdog so no program outlives its
 * time budget, bounded waits on futures, and one way to fail.
 *
 * <p>Exit codes: 0 all checks passed, 1 a check failed or a client threw, 2 usage,
 * 3 the watchdog fired. The last line printed is "OK Name" or "FAIL Name: why".
 */
final class Itest {
    /** Upper bound for any single client call or future. */
    static final long CALL_TIMEOUT_MS = 30_000;

    private Itest() {}

    interface Body {
        void run(String bootstrap, String topic, Options opts) throws Exception;
    }

    /** Options after BOOTSTRAP TOPIC: "--name value" pairs and bare "--flag"s. */
    static final class Options {
        private final Map<String, String> values = new HashMap<>();

        Options(String[] args) {
            for (int i = 0; i < args.length; i++) {
                if (!args[i].startsWith("--")) {
                    throw new IllegalArgumentException("expected an --option, got " + args[i]);
                }
                boolean hasValue = i + 1 < args.length && !args[i + 1].startsWith("--");
                values.put(args[i].substring(2), hasValue ? args[++i] : "true");
            }
        }

        String string(String name, String dflt) {
            return values.getOrDefault(name, dflt);
        }

        int integer(String name, int dflt) {
            return values.containsKey(name) ? Integer.parseInt(values.get(name)) : dflt;
        }

        Long longOrNull(String name) {
            return values.containsKey(name) ? Long.parseLong(values.get(name)) : null;
        }

        boolean flag(String name) {
            return Boolean.parseBoolean(values.getOrDefault(name, "false"));
        }
    }

    /** Thrown by {@link #check}; its message is the whole failure report. */
    static final class CheckFailed extends RuntimeException {
        CheckFailed(String message) {
            super(message);
        }
    }

    static void main(String name, String[] args, long budgetSeconds, Body body) {
        Options opts = null;
        try {
            if (args.length >= 2) {
                opts = new Options(Arrays.copyOfRange(args, 2, args.length));
            }
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
        }
        if (opts == null) {
            System.err.println("usage: " + name + " BOOTSTRAP TOPIC [--option value ...]");
            System.exit(2);
        }
        startWatchdog(name, budgetSeconds);
        try {
            body.run(args[0], args[1], opts);
        } catch (CheckFailed e) {
            fail(name, e.getMessage());
        } catch (Throwable e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            e.printStackTrace();
            fail(name, cause.getClass().getName() + ": " + cause.getMessage());
        }
        System.out.println("OK " + name);
        System.out.flush();
        // Client threads are closed by then; exit anyway so a stray thread cannot hold us.
        System.exit(0);
    }

    private static void fail(String name, String why) {
        System.out.println("FAIL " + name + ": " + why);
        System.out.flush();
        System.exit(1);
    }

    private static void startWatchdog(String name, long seconds) {
        Thread t = new Thread(() -> {
            try {
                Thread.sleep(seconds * 1000);
            } catch (InterruptedException e) {
                return;
            }
            System.out.println("FAIL " + name + ": watchdog fired after " + seconds + "s");
            System.out.flush();
            Runtime.getRuntime().halt(3);
        }, "itest-watchdog");
        t.setDaemon(true);
        t.start();
    }

    static void check(boolean ok, String format, Object... args) {
        if (!ok) {
            throw new CheckFailed(String.format(format, args));
        }
    }

    static <T> T get(Future<T> future, String what) throws Exception {
        try {
            return future.get(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new CheckFailed(what + ": no answer within " + CALL_TIMEOUT_MS + " ms");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            throw new CheckFailed(what + ": " + c.getClass().getSimpleName() + ": " + c.getMessage());
        }
    }

    /** Waits for a future that must fail with {@code expected}; returns that cause. */
    static Throwable expectFailure(Future<?> future, Class<? extends Throwable> expected, String what)
            throws Exception {
        try {
            future.get(CALL_TIMEOUT_MS, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new CheckFailed(what + ": no answer within " + CALL_TIMEOUT_MS + " ms");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            check(expected.isInstance(c), "%s: expected %s, got %s: %s",
                    what, expected.getSimpleName(), c.getClass().getSimpleName(), c.getMessage());
            return c;
        }
        throw new CheckFailed(what + ": expected " + expected.getSimpleName() + ", but it succeeded");
    }

    /** Settings every client gets: the bootstrap address and bounded timeouts. */
    static Properties clientProps(String bootstrap) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("request.timeout.ms", "15000");
        p.put("default.api.timeout.ms", "30000");
        p.put("reconnect.backoff.max.ms", "1000");
        return p;
    }

    static void say(String format, Object... args) {
        System.out.println(String.format(format, args));
    }
}
