"""The `lightning_iter` subcommands that are not Trainer methods; each module exposes `main(argv)`."""
