// FerryDocker: Docker Engine API client (in progress)
