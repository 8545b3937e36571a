import SMCClient
import ArgumentParser
print("x")
