# frozen_string_literal: true

# Optional (the full profile): the params of `initialize` and `invoke` checked field by
# field, so a bad request gets -32602 with the JSON path of its first bad field
# (SPEC `rpc.bad-params`). A conforming broker never sends bad params.

module Motiad
  # The params checks of the methods a child serves.
  module Checks
    TRIGGERS = %w[api event cron].freeze

    def self.bad(field, what) = ["$.params.#{field}", what]

    def self.initialize_params(params)
      version = params['protocolVersion']
      return bad('protocolVersion', 'must be a "MAJOR.MINOR" string') unless version.is_a?(String) && version.match?(/\A[0-9]+\.[0-9]+\z/)
      return bad('project', 'must be a string') unless params['project'].is_a?(String)
      return bad('steps', 'must be an array of paths') unless params['steps'].is_a?(Array)

      index = params['steps'].index { |path| !path.is_a?(String) }
      return bad("steps[#{index}]", 'must be a string') if index

      streams = params.fetch('streams', [])
      return bad('streams', 'must be an array of paths') unless streams.is_a?(Array) && streams.all?(String)

      limit = params.fetch('maxLineBytes', 1)
      bad('maxLineBytes', 'must be an integer >= 1') unless limit.is_a?(Integer) && limit >= 1
    end

    def self.invoke_params(params)
      return bad('step', 'must be a string') unless params['step'].is_a?(String)

      trigger = params['trigger']
      return bad('trigger', 'must be an object') unless trigger.is_a?(Hash)
      return bad('trigger.type', 'must be one of "api", "event", "cron"') unless TRIGGERS.include?(trigger['type'])

      trigger_fields(trigger) || invocation_fields(params)
    end

    def self.trigger_fields(trigger)
      return unless trigger['type'] == 'event'
      return bad('trigger.topic', 'must be a string') unless trigger['topic'].is_a?(String)
      return bad('trigger.eventId', 'must be a string') unless trigger['eventId'].is_a?(String)

      group = trigger['messageGroupId']
      bad('trigger.messageGroupId', 'must be a string or null') unless group.nil? || group.is_a?(String)
    end

    def self.invocation_fields(params)
      return bad('input', 'must be present (null for cron)') unless params.key?('input')
      return bad('traceId', 'must be a string') unless params['traceId'].is_a?(String)
      return bad('invocationId', 'must be a string') unless params['invocationId'].is_a?(String)

      attempt = params.fetch('attempt', 1)
      return bad('attempt', 'must be an integer >= 1') unless attempt.is_a?(Integer) && attempt >= 1

      budget = params['timeoutMs']
      bad('timeoutMs', 'must be a positive number or null') unless budget.nil? || (budget.is_a?(Numeric) && budget.positive?)
    end
  end

  CHECKS[Methods::INITIALIZE] = Checks.method(:initialize_params)
  CHECKS[Methods::INVOKE] = Checks.method(:invoke_params)
end
