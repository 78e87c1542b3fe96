"""Doctor: fault-management verification suite for OpenStack clouds."""
