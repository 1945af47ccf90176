from textgate.cli.main import main

main()
