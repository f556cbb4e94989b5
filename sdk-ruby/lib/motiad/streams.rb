# frozen_string_literal: true

# `context.streams`, Motia's streams (SPEC `stream.methods`, a core call):
# `context.streams.todo.set(group, id, data)`, or `context.streams[:todo]`.

module Motiad
  class Context
    def streams = Streams.new(self)
  end

  # Every stream of the project, by name.
  class Streams
    def initialize(context) = @context = context
    def [](name) = Stream.new(@context, name.to_s)
    def method_missing(name, *args) = args.empty? ? self[name] : super
    def respond_to_missing?(_name, _include_private = false) = true
  end

  # One stream: JSON objects by (groupId, id), pushed to its subscribers as they change.
  class Stream
    def initialize(context, name)
      @context = context
      @name = name
    end

    def get(group, id) = call(Methods::STREAM_GET, 'groupId' => group, 'id' => id)
    def set(group, id, data) = call(Methods::STREAM_SET, 'groupId' => group, 'id' => id, 'data' => data)
    def delete(group, id) = call(Methods::STREAM_DELETE, 'groupId' => group, 'id' => id)
    def get_group(group) = call(Methods::STREAM_GET_GROUP, 'groupId' => group)

    # Motia's name: an ephemeral `{type:, data:}` to the group's (or one item's) subscribers.
    def send(channel, event)
      channel = channel.transform_keys(&:to_s)
      event = event.transform_keys(&:to_s)
      params = { 'groupId' => channel['groupId'], 'type' => event['type'], 'data' => event['data'] }
      params['id'] = channel['id'] if channel['id']
      call(Methods::STREAM_SEND, params)
    end

    private

    def call(method, params) = @context.call(method, params.merge('stream' => @name))
  end
end
