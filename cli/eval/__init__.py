"""`support eval`: the golden suite and live evaluations played against the real service, in process.

The case format, evaluators and reports are `evals`'s; running them needs the whole service (`api`), so it sits
here, above both.
"""
