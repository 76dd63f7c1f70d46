"""A SOAP toolkit that has never seen zato-rs (zeep) calls invoice.dispatcher through the WSDL
the node generated, over SOAP 1.1 and SOAP 1.2; a target the service refuses comes back as a
SOAP Fault, which zeep raises. Prints one line per check; exits non-zero on the first failure.
Run by tests/admin.rs."""
import sys

import zeep
from zeep.exceptions import Fault

client = zeep.Client(sys.argv[1])
for port in ["invoice.dispatcher.soap.Soap11", "invoice.dispatcher.soap.Soap12"]:
    service = client.bind("invoice.dispatcher.soap", port)
    stored = service["invoice.dispatcher"](target=["CRM", "Billing"])
    assert list(stored) == ["CRM", "Billing"], stored
    print(port, "reply", list(stored))
    try:
        service["invoice.dispatcher"](target=["."])
    except Fault as fault:
        assert "container name" in fault.message, fault.message
        print(port, "fault", fault.code)
    else:
        sys.exit(port + ": a refused target raised no fault")
