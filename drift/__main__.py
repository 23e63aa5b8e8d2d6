"""`python -m drift`, and the `drift` command (`run`), run the command line."""

import gc


def run() -> None:
    # Start-up imports make tens of thousands of objects that live as long as the process, and no
    # garbage: Python's cycle collector would walk them again and again while they are made. It is
    # paused until the command is known, then given back to every command but the short reads of
    # the history (drift.cli.app.main_options).
    gc.disable()
    from drift.cli import main

    main()


if __name__ == "__main__":
    run()
