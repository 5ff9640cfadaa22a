from aimachine.cli.main import main

main()
