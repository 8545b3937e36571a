import OpenAPIURLSession
import SMCAPI
public enum SMCClient {}
