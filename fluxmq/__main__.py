from fluxmq.cli import main

main()
