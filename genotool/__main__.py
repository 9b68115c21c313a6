from genotool.cli import main

main()
