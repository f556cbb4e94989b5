# frozen_string_literal: true

# Streamed HTTP for api steps: the request body read as a stream (SPEC
# `http.body-stream`, a step whose config has `streamBody: true`) and the
# response written as one (SPEC `http.stream`). Each read and write blocks the
# handler's thread until the broker answers, which is the backpressure.

module Motiad
  # The request body ended before its end: the client went away, or it outgrew the limit.
  class BodyStreamError < StandardError; end

  class Context
    # The request body as binary chunks, pulled from the client as they are read.
    def body_stream = @body_stream ||= BodyStream.new(self)

    # A streamed response: `write(chunk)` sends each chunk, the first with `status` and `headers`.
    def stream_response(status = 200, headers = {}) = ResponseStream.new(self, status, headers)
  end

  # `each { |chunk| }` (Enumerable) and `read` for the rest at once.
  class BodyStream
    include Enumerable

    def initialize(context)
      @context = context
      @done = false
    end

    def each
      until @done
        answer = @context.call(Methods::HTTP_READ, {})
        @done = true if answer['done']
        raise BodyStreamError, answer['error'] if answer['error']

        chunk = answer['chunk'].to_s.unpack1('m0')
        yield chunk unless chunk.empty?
      end
      self
    end

    def read = to_a.join.b
  end

  # Each `write` is one `http.write`, answered once the client's connection took the chunk.
  class ResponseStream
    def initialize(context, status, headers)
      @context = context
      @head = { 'status' => status, 'headers' => headers.transform_keys(&:to_s) }
    end

    def write(chunk)
      params = { 'chunk' => [chunk.to_s].pack('m0'), 'encoding' => 'base64' }
      params.merge!(@head) if @head
      @head = nil
      @context.call(Methods::HTTP_WRITE, params)
      chunk.to_s.bytesize
    end
  end
end
