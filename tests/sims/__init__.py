"""Local HTTP simulators of the platforms' servers, speaking their wire formats, for the tests."""
