from agrad.cli.main import main

main()
