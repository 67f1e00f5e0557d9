def write(out, full):
    pass
