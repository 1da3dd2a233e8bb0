"""Hash exchanges: feeds that keep hash lists up to date on a schedule.

``config`` holds the per-exchange settings (credentials as secrets, never in a repr or a
log), ``base`` the small interface every exchange implements (a page of entries and the
cursor after it) and its typed errors, ``feeds`` the generic HTTP JSON/CSV feed and the
local-folder drop, ``threatexchange`` and ``ncmec`` the clients of those services, and
``runner`` what lands a fetch in a list and the schedule the workers run.

The package re-exports nothing: the settings import ``config`` at start-up, and a
re-export here would import the runner, which imports the runtime, which imports the
settings.
"""
