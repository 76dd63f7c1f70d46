"""A second SOAP toolkit that has never seen zato-rs (suds, from suds-community), independent of
zeep, calls invoice.dispatcher through the WSDL the node generated. suds resolves every element a
message part names in the schema's target namespace, so it refuses a WSDL whose schema has none
(`TypeNotFound`). suds speaks SOAP 1.1 only: it calls the Soap11 port. A target the service
refuses comes back as a SOAP Fault with HTTP 400, which suds does not read (it reads a Fault from
a 500 only): that is printed as such. Prints one line per check; exits non-zero on the first
failure. Run by tests/admin.rs."""
import sys

from suds import WebFault
from suds.client import Client

# No cache: each run reads the WSDL the node serves now, not one a previous run stored.
client = Client(sys.argv[1], cache=None)
port = "invoice.dispatcher.soap.Soap11"
client.set_options(service="invoice.dispatcher.soap", port=port)
# The operation's name has a dot, which Python's attribute syntax cannot spell.
dispatch = getattr(client.service, "invoice.dispatcher")
stored = dispatch(target=["CRM", "Billing"])
# suds unwraps a reply of one element: `stored` itself, the list.
assert [str(s) for s in stored] == ["CRM", "Billing"], stored
print(port, "reply", [str(s) for s in stored])
try:
    dispatch(target=["."])
except WebFault as fault:
    assert "container name" in fault.fault.faultstring, fault.fault
    print(port, "fault", fault.fault.faultcode)
except Exception as e:
    # suds reads a Fault only from a 500 reply, as SOAP 1.1 and WS-I Basic Profile 1.1 (R1126)
    # ask; the channel answers a caller's fault with a 4xx, and suds reports its status alone.
    if e.args != ((400, "Bad Request"),):
        raise
    print(port, "refused with HTTP 400, the Fault unread")
else:
    sys.exit(port + ": a refused target raised no fault")
