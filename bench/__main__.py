"""python -m bench: every benchmark, each reporting ratios against its own baseline."""

from bench import dispatcher, service_tests

dispatcher.main()
service_tests.main()
