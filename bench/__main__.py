"""python -m bench: every benchmark, each reporting ratios against its own baseline."""

from bench import dispatcher

dispatcher.main()
