"""Pages by area, thin: an access check, a form, one service or selector call, a template."""
