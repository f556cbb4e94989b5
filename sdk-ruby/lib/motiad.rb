# frozen_string_literal: true

# The core of the motiad Ruby SDK: a child of the motiad step protocol
# (protocol/SPEC.md). One reader loop (the main thread) splits stdin into lines
# and dispatches them; each invocation runs on a thread of its own; every line
# goes out through one lock. Standard library only.

require 'json'
require_relative 'motiad/tables'
require_relative 'motiad/context'
require_relative 'motiad/streams'

module Motiad
  SDK = { 'name' => 'motiad-sdk-ruby', 'version' => '0.1.0', 'language' => 'ruby' }.freeze
  LIB = __dir__
  # Params checks by method, each ->(params) { nil or [json_path, what_is_wrong] }; the
  # optional motiad/checks.rb fills it (a conforming broker sends valid params).
  CHECKS = {}

  # Raise it (or any error whose `retryable` is false) to fail without retries.
  class NonRetryableError < StandardError
    def retryable = false
  end

  # A service request the broker answered with an error (an emit refused, ...).
  class BrokerError < StandardError
    attr_reader :code, :data

    def initialize(code, message, data = nil)
      super(message)
      @code = code
      @data = data
    end
  end

  # Raised into a handler's thread to stop it ($/cancel, its timeout, shutdown).
  # Not a StandardError, so `rescue => e` in user code does not swallow it.
  class Cancelled < Exception; end

  Step = Struct.new(:config, :host)
  Invocation = Struct.new(:thread, :timer)

  # Runs the SDK: claims stdout for the protocol (SPEC `framing.stdout-owned`),
  # then serves the broker until shutdown or end of input.
  def self.main
    protocol_in = $stdin.dup
    protocol_out = $stdout.dup
    $stdout.reopen($stderr) # what user code prints, or its subprocesses, goes to stderr
    $stdout.sync = true
    $stdin.reopen(File::NULL)
    Encoding.default_external = Encoding::UTF_8
    Child.new(protocol_in, protocol_out).run
  end

  # One protocol session over a pair of pipes.
  class Child
    def initialize(input, output)
      @in = input.binmode
      @out = output.binmode
      @out.sync = true
      @write_lock = Mutex.new
      @state_lock = Mutex.new
      @limit = DEFAULT_MAX_LINE_BYTES
      @steps = {}
      @running = {}
      @pending = {}
      @next_id = 0
      @initialized = false
      @stopping = false
    end

    # Reads lines until end of input (SPEC `lifecycle.stdin-eof`), then exits.
    def run
      each_line { |line| dispatch(line) }
      exit!(0)
    end

    # Whole lines: a conforming broker sends none over the limit (motiad/bounded_lines.rb
    # bounds them, SPEC `framing.max-line`). Bytes after the last newline are no message.
    def each_line
      while (line = @in.gets)
        yield line.chomp("\n") if line.end_with?("\n")
      end
    rescue IOError, SystemCallError
      nil
    end

    # Classifies a line in the order of SPEC `rpc.error-order` and serves it.
    def dispatch(line)
      line.force_encoding(Encoding::UTF_8)
      return undecodable(line, 'the line is not valid UTF-8') unless line.valid_encoding?

      msg = parse(line)
      return reply_error(nil, ErrorCode::PARSE_ERROR, 'parse error: not one JSON value') if msg == :bad
      return undecodable(line, 'JSON nested too deeply for this SDK') if msg == :deep
      return reply_error(nil, ErrorCode::INVALID_REQUEST, 'invalid request: not an object') unless msg.is_a?(Hash)

      id = msg['id']
      good_id = id.is_a?(Integer) || id.is_a?(String)
      return settle(msg, id, good_id) if !msg.key?('method') && (msg.key?('result') || msg.key?('error'))

      why = if msg['jsonrpc'] != '2.0' then '"jsonrpc" must be "2.0"'
            elsif !msg['method'].is_a?(String) then 'no method, or not a string'
            elsif msg.key?('id') && !good_id then 'id must be an integer or a string'
            end
      return reply_error(good_id ? id : nil, ErrorCode::INVALID_REQUEST, "invalid request: #{why}") if why

      method = msg['method']
      params = msg.fetch('params', {})
      return notification(method, params) unless msg.key?('id')
      return reply_error(id, ErrorCode::METHOD_NOT_FOUND, "method not found: #{method}") unless REQUESTS.key?(method)
      return reply_error(id, ErrorCode::INVALID_PARAMS, 'invalid params: not an object', { 'path' => '$.params' }) unless params.is_a?(Hash)

      # `lifecycle.initialize.once` comes before the params checks (SPEC §3.1)
      return initialize_steps(id, params) if method == Methods::INITIALIZE && @initialized

      path, what = CHECKS[method]&.call(params)
      return reply_error(id, ErrorCode::INVALID_PARAMS, "invalid params: #{path} #{what}", { 'path' => path }) if path

      send(REQUESTS[method], id, params)
    end

    def parse(line)
      JSON.parse(line, object_class: Motiad.object_class, max_nesting: false)
    rescue JSON::ParserError, EncodingError
      :bad
    rescue SystemStackError
      :deep
    end

    # The start of a message as every sender writes it (SPEC `rpc.undecodable`).
    LEADING_ID = /\A[ \t]*\{[ \t]*"jsonrpc"[ \t]*:[ \t]*"2\.0"[ \t]*,[ \t]*"id"[ \t]*:[ \t]*(-?[0-9]+|"[^"\\]*")[ \t]*,[ \t]*"(method|result|error)"/n

    # SPEC `rpc.undecodable`: a line that cannot be decoded is tied to the id its start
    # shows: a request is answered by it, our request it answers fails; else id null.
    def undecodable(line, why)
      found = LEADING_ID.match(line.b)
      id = found && leading_id(found[1])
      return reply_error(id, ErrorCode::PARSE_ERROR, "parse error: #{why}") if id.nil? || found[2] == 'method'

      error = { 'code' => ErrorCode::PARSE_ERROR, 'message' => "the broker's answer could not be read: #{why}" }
      locked(@state_lock) { @pending.delete(id) }&.push({ 'error' => error })
    end

    def leading_id(text)
      JSON.parse(text.force_encoding(Encoding::UTF_8))
    rescue JSON::ParserError, EncodingError
      nil
    end

    REQUESTS = { Methods::INITIALIZE => :initialize_steps, Methods::PING => :ping,
                 Methods::INVOKE => :invoke, Methods::SHUTDOWN => :shutdown }.freeze

    # A response: hand it to the request waiting for it; never answer it (`rpc.no-reply-to-responses`).
    def settle(msg, id, good_id)
      error = msg['error']
      well_formed = msg['jsonrpc'] == '2.0' && good_id && !(msg.key?('result') && msg.key?('error')) &&
                    (error.nil? || (error.is_a?(Hash) && error['code'].is_a?(Integer) && error['message'].is_a?(String)))
      waiter = well_formed && locked(@state_lock) { @pending.delete(id) }
      return waiter.push(msg) if waiter

      warn "motiad-sdk-ruby: ignored a response: #{JSON.generate(msg)[0, 200]}" unless well_formed && !msg.key?('error')
    end

    def notification(method, params)
      return show_title(params['title']) if method == Methods::TITLE && params.is_a?(Hash) && params['title'].is_a?(String)
      return unless method == Methods::CANCEL && params.is_a?(Hash)

      id = params['id']
      cancel(id, ErrorCode::CANCELLED, 'cancelled') if id.is_a?(Integer) || id.is_a?(String)
    end

    # lifecycle.title: Ruby's setproctitle also takes the environment's area after the arguments,
    # which /proc/PID/cmdline then reads on into: cut to the argument area (/proc/self/stat's arg_start, arg_end).
    def show_title(title)
      area = File.read('/proc/self/stat').rpartition(')').last.split[45, 2].map(&:to_i)
      title = title.byteslice(0, area[1] - area[0] - 1).scrub('')
    rescue SystemCallError
      nil # no /proc: Ruby's own limit
    ensure
      Process.setproctitle(title)
    end

    def initialize_steps(id, params)
      return reply_error(id, ErrorCode::INVALID_REQUEST, 'invalid request: already initialized') if @initialized

      version = params['protocolVersion']
      if version.to_i != PROTOCOL_VERSION.to_i # the majors: "1.7" and "01.0" are 1
        return reply_error(id, ErrorCode::VERSION_MISMATCH, "protocol version mismatch: the broker speaks #{version}, " \
                                                            "#{SDK['name']} #{SDK['version']} speaks #{PROTOCOL_VERSION}")
      end
      @limit = params.fetch('maxLineBytes', DEFAULT_MAX_LINE_BYTES)
      entries = params['steps'].map { |path| load_step(path) }
      @initialized = true
      reply(id, { 'protocolVersion' => PROTOCOL_VERSION, 'sdk' => SDK, 'steps' => entries })
    end

    # A step file defines `config` (and `handler`, unless a noop) as methods; each file
    # is evaluated in a module of its own so files do not see each other's definitions.
    def load_step(path)
      file = Module.new
      file.module_eval(File.read(path, encoding: Encoding::UTF_8), path)
      host = Object.new.extend(file)
      raise ArgumentError, "#{path}: no `def config`" unless host.respond_to?(:config)

      config = JSON.parse(JSON.generate(host.config))
      raise ArgumentError, "#{path}: no `def handler`" unless config['type'] == 'noop' || host.respond_to?(:handler)

      @steps[path] = Step.new(config, config['type'] == 'noop' ? nil : host)
      { 'path' => path, 'config' => config }
    rescue Exception => e # a SyntaxError is a ScriptError, not a StandardError
      { 'path' => path, 'error' => Motiad.error_info(e).merge('retryable' => false) }
    end

    def ping(id, _params) = reply(id, {})

    def invoke(id, params)
      return reply_error(id, ErrorCode::SHUTTING_DOWN, 'shutting down: invoke refused') if @stopping
      return reply_error(id, ErrorCode::INVALID_REQUEST, 'invalid request: not initialized') unless @initialized

      step = @steps[params['step']]
      return reply_error(id, ErrorCode::UNKNOWN_STEP, "unknown step: #{params['step']}") unless step&.host

      invocation = Invocation.new
      added = locked(@state_lock) { !@running.key?(id) && (@running[id] = invocation) }
      return reply_error(id, ErrorCode::INVALID_REQUEST, "invalid request: id #{id.inspect} is running") unless added

      ms = params['timeoutMs'] # the timer first, so a handler that ends at once stops it
      invocation.timer = Thread.new { timeout(id, ms) } if ms
      invocation.thread = Thread.new { run_handler(id, step, params) }
    end

    def timeout(id, ms)
      sleep(ms / 1000.0)
      cancel(id, ErrorCode::TIMED_OUT, "timed out after #{ms} ms")
    end

    def run_handler(id, step, params)
      outcome = begin
        api = params['trigger']['type'] == 'api'
        # SPEC `invoke.refusal`: Ruby steps have no middleware, so the refusal is the answer
        refusal = api ? params['trigger']['refusal'] : nil
        if refusal
          [refusal, nil]
        else
          context = Context.new(self, params)
          input = api ? Motiad.api_request(params['input']) : params['input']
          value = step.host.method(:handler).arity == 1 ? step.host.handler(context) : step.host.handler(input, context)
          [api ? Motiad.api_result(value) : nil, nil]
        end
      rescue Cancelled
        return # whoever cancelled it has answered
      rescue Exception => e
        [nil, Motiad.error_info(e)]
      end
      Thread.handle_interrupt(Cancelled => :never) { answer(id, *outcome) }
    rescue Cancelled
      nil # a cancel that came while it answered: the cancel answered instead
    rescue Exception => e # SPEC `invoke.sdk-failure`: whatever failed, the invoke is answered
      finish(id) { reply_error(id, ErrorCode::INTERNAL_ERROR, "internal error: #{e.class}: #{e.message}") }
    end

    def answer(id, result, info)
      finish(id) do
        next reply(id, result) unless info

        reply_error(id, ErrorCode::HANDLER_FAILED, "handler failed: #{info['type']}: #{info['message']}", info)
      end
    end

    # Answers an invocation once: whoever takes it out of the running table answers it.
    def finish(id)
      invocation = locked(@state_lock) { @running.delete(id) }
      return unless invocation

      invocation.timer&.kill unless invocation.timer == Thread.current
      yield
      invocation
    end

    # SPEC `invoke.cancel`: the answer first, then the handler is stopped.
    def cancel(id, code, message)
      invocation = finish(id) { reply_error(id, code, message) }
      invocation.thread.raise(Cancelled) if invocation&.thread&.alive?
    end

    def shutdown(id, _params)
      @stopping = true
      Thread.new do
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + (SHUTDOWN_GRACE_MS / 1000.0)
        locked(@state_lock) { @running.values }.each do |invocation|
          invocation.thread&.join([deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0].max)
        end
        locked(@state_lock) { @running.keys }.each { |rid| cancel(rid, ErrorCode::CANCELLED, 'cancelled: shutting down') }
        reply(id, nil)
        exit!(0)
      end
    end

    # A request to the broker for a running handler; its result, or a BrokerError.
    def request(method, params)
      waiter = Queue.new
      id = locked(@state_lock) do
        @next_id += 1
        @pending[@next_id] = waiter
        @next_id
      end
      begin
        write(Motiad.generate({ 'jsonrpc' => '2.0', 'id' => id, 'method' => method, 'params' => params }), strict: true)
        answer = waiter.pop
      ensure
        locked(@state_lock) { @pending.delete(id) }
      end
      error = answer['error']
      raise BrokerError.new(error['code'], error['message'], error['data']) if error

      answer['result']
    end

    def notify(method, params)
      write(Motiad.generate({ 'jsonrpc' => '2.0', 'method' => method, 'params' => params }), strict: true)
    rescue RangeError => e # SPEC `framing.max-line.send`: a log too long is not sent
      warn "motiad-sdk-ruby: #{method} not sent: #{e.message}"
    end

    def reply(id, result)
      write(Motiad.generate({ 'jsonrpc' => '2.0', 'id' => id, 'result' => result }), strict: true)
    rescue RangeError => e
      reply_error(id, ErrorCode::LINE_TOO_LONG, "result too long: #{e.message}")
    rescue JSON::JSONError, EncodingError, SystemStackError => e # SPEC `invoke.sdk-failure`
      reply_error(id, ErrorCode::INTERNAL_ERROR, "internal error: #{e.class}: #{e.message}")
    end

    # An error answer; too long (or data JSON cannot hold): without data, its message cut,
    # further while the line is over the limit; one that does not fit empty is not sent.
    def reply_error(id, code, message, data = nil)
      error = { 'code' => code, 'message' => message }
      error['data'] = data unless data.nil?
      write(Motiad.generate({ 'jsonrpc' => '2.0', 'id' => id, 'error' => error }), strict: true)
    rescue RangeError, JSON::JSONError, EncodingError, SystemStackError
      text = message.scrub[0, MAX_ERROR_MESSAGE_CHARS]
      loop do
        line = Motiad.generate({ 'jsonrpc' => '2.0', 'id' => id, 'error' => { 'code' => code, 'message' => text } })
        return write(line) if line.bytesize <= @limit
        return warn("motiad-sdk-ruby: error #{code} not sent: over #{@limit} bytes") if text.empty?

        text = text[0, [text.length - (line.bytesize - @limit), 0].max]
      end
    end

    # One line out, whole, under the lock; a line over the limit raises RangeError when
    # `strict`. A closed stdout means the broker is gone (SPEC `lifecycle.stdin-eof`).
    def write(line, strict: false)
      raise RangeError, "#{line.bytesize} bytes, over the limit of #{@limit}" if strict && line.bytesize > @limit

      locked(@write_lock) { @out.write(line, "\n") }
    rescue IOError, SystemCallError
      exit!(0)
    end

    # A lock no cancel can break into: a handler stopped mid-write would cut a line.
    def locked(lock, &block) = Thread.handle_interrupt(Cancelled => :never) { lock.synchronize(&block) }
  end

  # SPEC §6: what the broker learns of a failure.
  def self.error_info(error)
    retryable = error.respond_to?(:retryable) ? error.retryable != false : true
    stack = (error.backtrace || []).reject { |frame| frame.start_with?(LIB) }
    { 'type' => error.class.name.to_s.split('::').last || 'Error', 'message' => error.message.to_s,
      'stack' => stack.join("\n"), 'retryable' => retryable }
  end

  # SPEC `invoke.input`: a body with bodyEncoding "base64" is bytes (a binary String).
  def self.api_request(request)
    return request unless request.is_a?(Hash) && request['bodyEncoding'] == 'base64' && request['body'].is_a?(String)

    decoded = request.dup
    decoded.delete('bodyEncoding')
    decoded['body'] = request['body'].unpack1('m0')
    decoded
  end

  # SPEC `invoke.result`: an api handler returns {status: Integer, body?, headers?: Hash};
  # a binary String body goes as base64 with bodyEncoding.
  def self.api_result(value)
    if value.is_a?(Hash)
      key = value.key?(:body) ? :body : 'body'
      body = value[key]
      if body.is_a?(String) && body.encoding == Encoding::BINARY
        value = value.merge(key => [body].pack('m0'), 'bodyEncoding' => 'base64')
      end
    end
    result = JSON.parse(generate(value), max_nesting: false) if value.is_a?(Hash)
    return result.slice('status', 'body', 'headers', 'bodyEncoding') if result && result['status'].is_a?(Integer) &&
                                                          (result['headers'].nil? || result['headers'].is_a?(Hash))

    raise InvalidApiResponse, "an api handler must return {status: Integer, body:, headers:}, not #{value.inspect[0, 200]}"
  rescue JSON::JSONError, EncodingError, SystemStackError => e
    raise InvalidApiResponse, "the result is not JSON: #{e.class}: #{e.message}"
  end

  # JSON for the wire, however deep (the line limit bounds it), with text that is not
  # UTF-8 (an encoded lone surrogate, stray bytes) as U+FFFD (SPEC `framing.utf8.replace`).
  def self.generate(value)
    JSON.generate(value, max_nesting: false)
  rescue JSON::GeneratorError => e
    raise unless e.message.match?(/utf-8|partial character/i)

    JSON.generate(scrub(value), max_nesting: false)
  end

  def self.scrub(value)
    case value
    when String then value.dup.force_encoding(Encoding::UTF_8).scrub("\uFFFD")
    when Hash then value.to_h { |key, item| [key.is_a?(String) ? scrub(key) : key, scrub(item)] }
    when Array then value.map { |item| scrub(item) }
    else value
    end
  end

  # A bad api response: the handler's fault, retrying will not help.
  class InvalidApiResponse < NonRetryableError; end

  # What JSON objects decode to: plain Hashes in the core; motiad/record.rb makes them
  # readable by symbol and by method too.
  def self.object_class = Hash
end
