# frozen_string_literal: true

module Motiad
  # What a handler gets beside its input (Motia's context): the ids, `emit`, `state`
  # and `logger`. Every call blocks the handler's thread until the broker answers.
  class Context
    attr_reader :trace_id, :invocation_id, :trigger, :attempt, :state, :logger, :traceparent

    def initialize(child, params)
      @child = child
      @trace_id = params['traceId']
      @invocation_id = params['invocationId']
      @trigger = params['trigger']
      @attempt = params.fetch('attempt', 1)
      # The invocation's W3C trace context (SPEC `invoke.traceparent`), for the handler's
      # own HTTP calls; nil when absent or not a string (never a reason to refuse).
      traceparent = params['traceparent']
      @traceparent = traceparent.is_a?(String) ? traceparent : nil
      @state = State.new(self)
      @logger = Logger.new(self)
    end

    # Publishes `{topic:, data:, messageGroupId:}`; returns `{"eventId" => ...}` once the
    # event is durable (SPEC `emit.durable`).
    def emit(event)
      event = event.transform_keys(&:to_s)
      params = { 'topic' => event['topic'], 'data' => event['data'] }
      group = event['messageGroupId'] || event['message_group_id']
      params['messageGroupId'] = group if group
      call(Methods::EMIT, params)
    end

    # A service request for this invocation (SPEC §4).
    def call(method, params) = @child.request(method, params.merge('invocationId' => @invocation_id))

    def notify(method, params) = @child.notify(method, params)
  end

  # `context.state`: JSON values by (group, key), kept by the broker.
  class State
    def initialize(context) = @context = context
    def get(group, key) = @context.call(Methods::STATE_GET, { 'groupId' => group, 'key' => key })
    def set(group, key, value) = @context.call(Methods::STATE_SET, { 'groupId' => group, 'key' => key, 'value' => value })
    def delete(group, key) = @context.call(Methods::STATE_DELETE, { 'groupId' => group, 'key' => key })
    def get_group(group) = @context.call(Methods::STATE_GET_GROUP, { 'groupId' => group })
    def clear(group) = @context.call(Methods::STATE_CLEAR, { 'groupId' => group })
  end

  # `context.logger`: structured records in the invocation's trace (SPEC `log.notification`).
  class Logger
    def initialize(context) = @context = context

    %w[debug info warn error].each do |level|
      define_method(level) { |message, fields = nil| log(level, message, fields) }
    end

    def log(level, message, fields)
      params = { 'level' => level, 'message' => message.to_s, 'invocationId' => @context.invocation_id }
      fields = { 'value' => fields } unless fields.nil? || fields.is_a?(Hash)
      params['fields'] = Motiad.json_safe(fields) if fields
      @context.notify(Methods::LOG, params)
    end
  end

  # A user value JSON can hold: keys as text, strings as valid UTF-8, NaN and infinities
  # null, other objects by their text (SPEC `log.notification`).
  def self.json_safe(value)
    case value
    when Hash then value.to_h { |key, item| [key.to_s, json_safe(item)] }
    when Array then value.map { |item| json_safe(item) }
    when String then value.dup.force_encoding(Encoding::UTF_8).scrub
    when Float then value.finite? ? value : nil
    when Integer, true, false, nil then value
    else value.to_s
    end
  end
end
