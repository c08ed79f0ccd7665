from fiberassure.cli import main

main()
