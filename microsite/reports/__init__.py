"""Reports for the clinic: speed to lead (inbox, lead page, dashboard) and the weekly summary."""
