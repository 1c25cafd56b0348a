// FerrySimulator: install simulations at scale (in progress)
