import { config } from 'motia'
import endpointPlugin from '@motiadev/plugin-endpoint/plugin'
import logsPlugin from '@motiadev/plugin-logs/plugin'
import observabilityPlugin from '@motiadev/plugin-observability/plugin'

export default config({
  plugins: [observabilityPlugin, endpointPlugin, logsPlugin],
})
