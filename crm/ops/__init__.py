"""Running Warmline: migrations, preflight and doctor checks, the embedded queue server, logging, CLI errors and progress."""
