from portraitcli.cli import main

if __name__ == "__main__":
    main()
