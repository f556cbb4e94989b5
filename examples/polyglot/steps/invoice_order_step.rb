# Ruby: invoices the order the Go step shipped, then hands it back to TypeScript.

def config
  { name: 'InvoiceOrder', type: 'event', subscribes: ['order.shipped'], emits: ['order.invoiced'],
    flows: ['orders'] }
end

def handler(input, context)
  order = context.state.get('orders', input[:id])
  order = order.merge('invoice' => "RB-#{order[:id]}-#{order[:totalCents]}", 'steps' => order[:steps] + ['ruby'])
  context.state.set('orders', order[:id], order)
  context.logger.info('Invoiced order', { id: order[:id], invoice: order[:invoice] })
  context.emit({ topic: 'order.invoiced', data: { id: order[:id] } })
end
