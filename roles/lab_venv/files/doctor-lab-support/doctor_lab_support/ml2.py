"""An ML2 mechanism driver that binds every port on the lab's hosts.

The lab runs no Neutron agent, so no stock mechanism driver can bind a port
(it would end as ``binding_failed``). The compute hosts are network
namespaces whose nova-compute uses the fake virt driver, so there is no real
data plane to wire: binding is only bookkeeping. This driver binds the first
segment offered with a plain VIF type, which lets servers boot on real
Neutron ports and leaves each port bound to its host (``binding:host_id``),
exactly what Doctor's inspector looks up when a host fails.
"""

import logging

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api

LOG = logging.getLogger(__name__)


class LabMechanismDriver(api.MechanismDriver):
    """Binds any port on any host of the lab to the first segment."""

    def initialize(self):
        LOG.info("doctor lab mechanism driver ready")

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OTHER,
                {portbindings.CAP_PORT_FILTER: False},
                status=constants.PORT_STATUS_ACTIVE,
            )
            LOG.debug("bound port %s on host %s", context.current["id"], context.host)
            return
