"""One module per result target family; each is runnable as ``python -m assocmem.experiments.<name>``."""
