from mlrobust.cli.main import run

run()
