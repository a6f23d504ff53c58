from phoenix_remote.cli.main import run

run()
