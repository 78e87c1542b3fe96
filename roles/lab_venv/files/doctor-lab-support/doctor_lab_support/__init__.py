"""Small pieces the Doctor lab needs inside the OpenStack services' virtualenv."""
