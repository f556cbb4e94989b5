# frozen_string_literal: true

# Optional: JSON objects that read the way Motia's Ruby steps read them: by string
# (`req['body']`), by symbol (`input[:message]`) or by method (`req.body`, and
# `req.path_params` for "pathParams"). A key named like a Hash method (`count`,
# `method`, ...) is read with [] only.

module Motiad
  # A Hash with string keys that also answers to symbols and methods.
  class Record < Hash
    def [](key) = super(key.is_a?(Symbol) ? key.to_s : key)
    def key?(key) = super(key.is_a?(Symbol) ? key.to_s : key)
    def fetch(key, *default, &block) = super(key.is_a?(Symbol) ? key.to_s : key, *default, &block)
    def dig(key, *rest) = rest.empty? ? self[key] : self[key]&.dig(*rest)

    def method_missing(name, *args)
      key = Record.key_for(self, name)
      args.empty? && key ? self[key] : super
    end

    def respond_to_missing?(name, include_private = false) = !Record.key_for(self, name).nil? || super

    def self.key_for(record, name)
      text = name.to_s
      camel = text.gsub(/_([a-z])/) { Regexp.last_match(1).upcase }
      [text, camel].find { |key| record.key?(key) }
    end
  end

  def self.object_class = Record
end
