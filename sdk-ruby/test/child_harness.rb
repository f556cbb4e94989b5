# frozen_string_literal: true

require 'json'
require 'open3'
require 'timeout'

# A real child (`ruby runner.rb`) on pipes, played by hand as the broker would.
class ChildHarness
  RUNNER = File.expand_path('../runner.rb', __dir__)
  # The core alone, without the optional parts runner.rb adds.
  CORE = ['-I', File.expand_path('../lib', __dir__), '-e', "require 'motiad'; Motiad.main"].freeze
  WAIT_S = 10 # every wait on the child is bounded

  attr_reader :stderr_lines

  def initialize(project = Dir.pwd, argv: [RUNNER])
    @project = project
    @stdin, @stdout, @stderr, @process = Open3.popen3('ruby', *argv, chdir: project)
    [@stdin, @stdout].each(&:binmode)
    @stderr_lines = []
    @stderr_reader = Thread.new { @stderr.each_line { |line| @stderr_lines << line } }
    @next_id = 1000
  end

  def write(line) = @stdin.write(line.b + "\n")

  # The next message the child writes (its lines are protocol only).
  def next_message
    line = Timeout.timeout(WAIT_S, Timeout::Error, "no line from the child in #{WAIT_S}s") { @stdout.gets }
    raise "the child closed stdout; stderr: #{@stderr_lines.last(5).join}" if line.nil?

    JSON.parse(line, max_nesting: false)
  end

  def request(method, params = {})
    id = (@next_id += 1)
    write(JSON.generate({ 'jsonrpc' => '2.0', 'id' => id, 'method' => method, 'params' => params }, max_nesting: false))
    id
  end

  # Every message up to the answer to a ping sent now: lines are read in order, so
  # whatever the previous line caused comes first.
  def until_barrier
    barrier = request('ping')
    seen = []
    loop do
      message = next_message
      return seen if message['id'] == barrier && message.key?('result')

      seen << message
    end
  end

  def initialize_child(max_line_bytes, steps = [])
    id = request('initialize', { 'protocolVersion' => '1.0', 'project' => @project, 'steps' => steps,
                                 'maxLineBytes' => max_line_bytes })
    answer = next_message
    raise "initialize answered #{answer}" unless answer['id'] == id && answer['result']

    answer['result']
  end

  # Runs `step` once (its answer: a result or an error), serving the child's requests
  # from `services` (method => ->(params) { result }) and collecting its notifications.
  def invoke(step, input, trigger: { 'type' => 'event', 'topic' => 't', 'eventId' => 'e' }, services: {}, extra: {})
    id = request('invoke', { 'step' => step, 'trigger' => trigger, 'input' => input, 'traceId' => 'trace-1',
                             'invocationId' => 'inv-1', 'attempt' => 1, 'timeoutMs' => nil, **extra })
    notifications = []
    loop do
      message = next_message
      return [message, notifications] if message['id'] == id && !message.key?('method')
      next notifications << message unless message.key?('id')

      result = services.fetch(message['method']).call(message['params'])
      write(JSON.generate({ 'jsonrpc' => '2.0', 'id' => message['id'], 'result' => result }, max_nesting: false))
    end
  end

  def close
    @stdin.close unless @stdin.closed?
    Timeout.timeout(WAIT_S) { @process.value }
    @stderr_reader.join(WAIT_S)
  end
end
