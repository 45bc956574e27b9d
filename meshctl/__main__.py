from meshctl.cli.app import main

main()
