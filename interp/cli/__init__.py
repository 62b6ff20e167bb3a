"""The ``interp`` command: textual steering vectors from the shell (typer + rich).

Every command only calls interp's public API. Bad input is refused by that API with a
ValueError (or FileNotFoundError, FileExistsError, or an ImportError naming the extra to
install); ``@user_errors`` turns those into one red line on stderr and exit status 2, and
anything unexpected into one line and exit status 1; ``interp --debug COMMAND ...`` shows the
full traceback instead.

Commands: ``extract`` (a vector from text), ``learn`` (a vector trained on labelled items: the
ceiling of one vector at a cell), ``sweep`` (layer x strength x selector, chosen on
train, reported on test), ``evaluate`` (score items, optionally steered), ``analyze`` (one
analysis of ``interp.analysis`` into a CSV table), ``figures`` (figures from a results folder's
CSV tables; no model runs) and ``demo`` (the whole pipeline, ``interp.demo.run_demo``). Output
formats are documented in docs/cli.md.

The package holds the app and what every command shares (``_app``: the app, ``user_errors``,
``multi_value``, ``parse_params``, option enums; ``_inputs``: loading models, vectors and items),
the rich tables (``render``) and one module per command (``extract``, ``learn``, ``sweep``, ``evaluate``,
``analyze``, ``figures``, ``demo``), which this package imports so each registers on ``app``.

Adding a command: write a module here that imports the shared modules once
(``from interp.cli import _app as cli`` and ``from interp.cli import _inputs``), with a function
decorated with ``@cli.app.command(epilog=...)`` (an example in the epilog) and
``@cli.user_errors`` whose shared options are ``cli.ModelOption``, ``cli.SeedOption``, ...; and
import the module below; import what it needs beyond ``import interp`` (nnsight, transformers,
the evaluation and analysis packages) inside the function, so ``interp --help`` stays as fast as
``import interp``; parse method parameters with ``cli.parse_params``; and pass
``cls=cli.multi_value("--layers", ...)`` for options that take several values after one flag.

Example:
    $ interp extract --model organism --concept counting --method meanshift --layers 0 1 --out vectors/counting
    $ interp sweep --vector vectors/counting --tasks Count --layers 0 1 --strengths -1 1 --out runs/sweep
"""

from __future__ import annotations

from interp.cli._app import app, fail, multi_value, parse_params, user_errors

# Each command module registers its command on ``app`` when imported, in ``interp --help``'s order.
# isort: off
from interp.cli import extract, learn, sweep, evaluate, analyze, figures, demo  # noqa: F401
# isort: on

__all__ = ["app", "fail", "multi_value", "parse_params", "user_errors"]
