"""Authorization: the auth rules per room version and power levels (auth/rules.py,
auth/membership.py, auth/power_levels.py). Import from the submodules; this package
stays light so that auth/passwords.py and auth/tokens.py do not pull the rules in."""
