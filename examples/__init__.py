"""Extensions of durable-sim written as its users write theirs: not part of the package.

`examples.order_saga` is the workload of the tutorial notebook
``notebooks/90_your_own_workload.ipynb``. Import it with this checkout's root on ``sys.path``
(``durable-sim --import examples.order_saga ...`` from the root does that).
"""
