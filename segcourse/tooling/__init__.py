"""The maintainers' tooling behind ``./course``: notebook builds, slides, the student workspace,
the environment file, the network guard. Nothing in the library imports it."""
