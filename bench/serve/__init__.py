"""``bench serve RUN``: a run's saved models behind Ray Serve, with a page to draw a digit on.

* :mod:`bench.serve.cli`: the subcommand's arguments, and the driver that checks the run's
  models, starts (or joins) Ray, deploys them and stops cleanly on Ctrl-C.
* :mod:`bench.serve.app`: the deployments, one per family, and the HTTP ingress.
* :mod:`bench.serve.upload`: a request's body, limited in size, turned into model rows as
  ``bench predict`` prepares an image file.
* :mod:`bench.serve.answers`: one family's answer as JSON (``bench predict``'s, with every
  class's probability).
* :mod:`bench.serve.loopback`: a local instance's replicas listen on 127.0.0.1 only, checked.
* ``page.html``: the self-contained page served at ``/``.

Nothing here imports Ray at module level except :mod:`bench.serve.app`, which only the
driver and Serve's replicas import.
"""
