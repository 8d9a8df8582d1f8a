"""The measuring program: trusted code that runs in a sandbox of its own and measures what a submission left."""
