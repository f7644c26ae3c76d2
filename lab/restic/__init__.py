"""Real restic backups and the job scheduler behind them."""
