"""agrad's engine: parsing, the op table, reverse-mode autodiff, the SymPy cross-check.

Core never prints. Entry point for programs: agrad.api.grad_job(GradRequest(...)).
"""
