# Conformance fixture `ConformanceIgnoresCancel` (protocol/SPEC.md §11.1).

def config
  { name: 'ConformanceIgnoresCancel', type: 'event', subscribes: ['conformance.stubborn'], emits: [] }
end

def handler(input, _context)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + ((input || {}).fetch('ms', 1000) / 1000.0)
  # The cancel is put off on purpose: this fixture does not stop early.
  Thread.handle_interrupt(Motiad::Cancelled => :never) do
    while (left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)).positive?
      sleep(left)
    end
  end
end
