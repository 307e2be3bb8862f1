"""agrad's command line (click): binds options, calls agrad.core, renders the result."""
