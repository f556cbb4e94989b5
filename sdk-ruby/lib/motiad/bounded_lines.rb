# frozen_string_literal: true

# Optional (SPEC `framing.max-line`, profile full): the core reads whole lines, as a
# conforming broker never sends one over the limit; this reader never buffers such a
# line whole but drops it up to its newline and answers -32005 once.

module Motiad
  # The bounded reader, put in front of the core's.
  module BoundedLines
    def each_line
      buffer = String.new(encoding: Encoding::BINARY)
      discarding = false
      while (chunk = read_chunk)
        buffer << chunk
        start = 0 # lines are cut from a chunk by offset, the rest kept once
        while (newline = buffer.index("\n", start))
          line = buffer.byteslice(start, newline - start)
          start = newline + 1
          if discarding then discarding = false
          elsif line.bytesize > @limit then too_long
          else yield line
          end
        end
        buffer = buffer.byteslice(start, buffer.bytesize - start)
        next unless buffer.bytesize > @limit

        too_long unless discarding
        discarding = true
        buffer.clear
      end
    end

    def read_chunk
      @in.readpartial(65_536)
    rescue EOFError, IOError, SystemCallError
      nil
    end

    def too_long = reply_error(nil, ErrorCode::LINE_TOO_LONG, "line too long: over #{@limit} bytes")
  end

  Child.prepend(BoundedLines)
end
